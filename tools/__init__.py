"""Developer tools the bot never runs: benchmarks, the face-detector comparison and the photos they are made of.

Not part of the installed package (`pip install .` ships bot/, model/ and db/ only): run them from the repository
root, in the environment the README's test command makes (`tools.bot_bench` uses the tests' Bot API server):

    python -m tools.model_bench [--json]           # inference latency per face and per photo, photos/s, peak memory
    python -m tools.compare_detectors [--json]     # BlazeFace with tiles against the alternatives (model/DETECTION.md)
    python -m tools.db_bench [--json]              # catalog import and recommendation speed on 200,000 songs
    python -m tools.bot_bench [--json]             # the real bot under concurrent writers and a webhook flood
    python -m tools.replica_bench [--json]         # 1 and 3 bot processes behind a load balancer, one of them killed

`fer_photos.py` is no command: it makes the synthetic photos (real FER2013 faces in drawn scenes) that the
benchmarks, the comparison, `train.photo_sets` and the tests use.
"""
