"""One clip: how it is decoded (:mod:`.decode`), what it becomes (the output
kinds of :mod:`.outputs`: :mod:`.frames`, :mod:`.video`), and how it is made,
checked and published (:mod:`.extract`)."""
