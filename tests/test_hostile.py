"""Crafted inputs: a "video" must not make ffmpeg read or fetch anything else."""

import http.server
import json
import threading
from pathlib import Path

import pytest

from k400frames.clip.extract import final_path as final_folder
from k400frames.errors import PreflightError
from k400frames.run.runner import run_extract
from k400frames.sources.tree import Clip

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


def test_output_cannot_escape_the_target(config, tmp_path):
    cfg = config()
    for stem in ("..", ".", ""):
        with pytest.raises(PreflightError, match="leave the target"):
            final_folder(cfg, Clip(Path("/x.mp4"), "cls", "cls", stem))
    with pytest.raises(PreflightError):
        final_folder(cfg, Clip(Path("/x.mp4"), "..", "..", "x"))
    assert (
        final_folder(cfg, Clip(Path("/x.mp4"), "tai chi", "tai chi", "-a_000001_000002"))
        == cfg.target / "tai chi" / "-a_000001_000002"
    )
