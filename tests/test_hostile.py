"""Crafted inputs: a "video" must not make ffmpeg read or fetch anything else."""

import http.server
import json
import threading

import pytest

from k400frames.clip.extract import extract_clip
from k400frames.layout import Layout
from k400frames.run.runner import run_extract
from k400frames.sources.tree import Clip
from k400frames.stores import ClipKey
from k400frames.stores.folder import FolderStore

from helpers import record_file


@pytest.fixture
def web_server():
    """A loopback HTTP server that counts the requests it gets."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_playlists_and_scripts_are_refused(make_clip, config, tmp_path, web_server):
    url, hits = web_server
    secret = make_clip("../outside/secret.mp4", seconds=0.3, fps=10)  # outside the source
    src = tmp_path / "src" / "evil"
    src.mkdir(parents=True)
    (src / "hls_local.mp4").write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{secret}\n#EXT-X-ENDLIST\n")
    (src / "hls_remote.mp4").write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{url}/seg.ts\n#EXT-X-ENDLIST\n"
    )
    (src / "concat.mp4").write_text(f"ffconcat version 1.0\nfile '{secret}'\n")
    cfg = config(num_frames=4)
    summary = run_extract(cfg)
    assert summary.failed == 3 and summary.done == 0
    rows = [json.loads(line) for line in record_file(cfg.target, "failures").read_text().splitlines()]
    for row in rows:
        assert row["reason"].startswith("refused") or row["reason"].startswith("not a video"), row
    assert hits == []  # nothing was fetched
    assert not cfg.target.joinpath("evil").exists()


def test_output_cannot_escape_the_target(make_clip, config, tmp_path):
    cfg = config(num_frames=2)
    store = FolderStore(Layout(cfg.target))
    for stem in ("..", ".", ""):
        with pytest.raises(ValueError, match="not a clip name inside"):
            store.final(ClipKey("cls", stem, folder=True))
    with pytest.raises(ValueError):
        store.final(ClipKey("..", "x", folder=True))
    assert store.final(ClipKey("tai chi", "-a_000001_000002", True)) == cfg.target / "tai chi" / "-a_000001_000002"
    # A name that would leave the split fails its clip at stage input, and nothing is written outside.
    video = make_clip("cls/x.mp4", seconds=0.2, fps=10)
    (tmp_path / "tmp").mkdir()
    result = extract_clip(Clip(video, "..", "..", "x"), cfg, tmp_path / "tmp")
    assert (result.ok, result.stage) == (False, "input") and "leave the target" in result.reason
    assert not (cfg.target.parent / "x").exists()
