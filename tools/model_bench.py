"""How fast, and how big, the inference path is on this machine.

    python -m tools.model_bench [--json] [--runs 40]

Makes its own photos (a real FER2013 face at a third of the width, selfie-like, on a textured background;
JPEG 1280x960 like a Telegram photo, the same turned to portrait (960x1280, which the detector covers with more
tiles), and 4000x3000 like a phone camera's) and prints: classification latency
per face, end-to-end latency per photo (decode + detect + crop + classify, median, with each stage's median),
photos per second with a thread per core, and the peak memory of a fresh process that has loaded both models
and read 100 photos. Targets from issue 3 are printed beside the figures. The load average is printed too:
other work on the machine (a training run) slows every figure here.

Decoding moved from OpenCV to Pillow in issue 13 (the same libjpeg-turbo, scaling in the DCT domain). Decoding
these photos with each, alternately, 150 times (CPU time, medians, load average 7): 4000x3000 30.8 ms with OpenCV,
30.6 with Pillow; 1280x960 3.9 and 4.5 (Pillow's image is copied out to a BGR array, 0.4 ms at 640x480).
"""

import argparse
import json
import multiprocessing
import os
import queue
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from model.classifier import EmotionModel
from model.crop import crop_face
from model.decode import decode_image
from model.detect import BlazeFaceDetector
from tools.fer_photos import PlacedFace, compose_photo, encode, read_fer_faces

# width, height, target ms (issue 10: a whole 1280x960 photo within 30 ms; issue 3 set 60 ms for 4000x3000)
PHOTOS = {"1280x960": (1280, 960, 30.0), "960x1280": (960, 1280, None), "4000x3000": (4000, 3000, 60.0)}
FACE_SHARE = 1 / 3
RSS_PHOTOS, RSS_TARGET_MB = 100, 200
CLASSIFY_TARGET_MS = 6.0  # per face, one core (issue 10)
THROUGHPUT_PHOTOS = 200


def make_photos(face: np.ndarray) -> dict[str, bytes]:
    rng = np.random.default_rng(2024)
    photos = {}
    for name, (width, height, _) in PHOTOS.items():
        side = round(width * FACE_SHARE)
        placed = PlacedFace(face, ((width - side) // 2, (height - side) // 3, side, side))
        photos[name] = encode(compose_photo(width, height, [placed], rng), ".jpg", quality=92)
    return photos


def median_ms(action, runs: int) -> float:
    action()  # warm-up: first call per thread builds its interpreters
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2)


def end_to_end(model: EmotionModel, detector: BlazeFaceDetector, data: bytes, runs: int) -> dict:
    """Median of the whole path, then of each stage on its own."""
    image = decode_image(data)
    detections = detector.detect(image.pixels)
    if not detections:
        raise RuntimeError("the benchmark photo has no detectable face")
    return {
        "bytes": len(data),
        "faces": len(model.analyze(data)),
        "e2e_ms": median_ms(lambda: model.analyze(data), runs),
        "decode_ms": median_ms(lambda: decode_image(data), runs),
        "detect_ms": median_ms(lambda: detector.detect(image.pixels), runs),
        "crop_classify_ms": median_ms(lambda: model.classify_faces(
            [crop_face(image.pixels, d) for d in detections]), runs),
    }


def throughput(model: EmotionModel, data: bytes, workers: int) -> float:
    """Photos per second with `workers` threads, each with its own interpreters."""
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(model.analyze, [data] * workers))  # warm every thread's interpreters
        start = time.perf_counter()
        list(pool.map(model.analyze, [data] * THROUGHPUT_PHOTOS))
    return round(THROUGHPUT_PHOTOS / (time.perf_counter() - start), 1)


def peak_rss_mb(photo_paths: list[str], results) -> None:
    """In a fresh process: load both models, read RSS_PHOTOS photos, report the peak resident memory."""
    model = EmotionModel.load()
    blobs = [Path(path).read_bytes() for path in photo_paths]
    for i in range(RSS_PHOTOS):
        model.analyze(blobs[i % len(blobs)])
    results.put(_peak_resident_mb())


def _peak_resident_mb() -> float:
    # VmHWM belongs to this process image; ru_maxrss would also count the parent's memory at fork time.
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_peak_rss(photos: dict[str, bytes]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name, data in photos.items():
            paths.append(str(Path(folder) / f"{name}.jpg"))
            Path(paths[-1]).write_bytes(data)
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        child = context.Process(target=peak_rss_mb, args=(paths, results))
        child.start()
        try:
            rss = results.get(timeout=300)
        except queue.Empty:
            raise RuntimeError(f"the memory-measuring process ended without an answer (exit code {child.exitcode})") \
                from None
        finally:
            child.join(timeout=10)
    return round(rss, 1)


def run(runs: int) -> dict:
    load_average = os.getloadavg()[0]
    faces = read_fer_faces(8)
    photos = make_photos(faces[0])
    model = EmotionModel.load()
    detector = BlazeFaceDetector()
    crops = list(faces)
    report = {
        "model_version": model.version,
        "cpus": os.cpu_count(),
        "load_average_at_start": round(load_average, 2),
        "classify_one_face_ms": median_ms(lambda: model.classify_faces(crops[:1]), runs * 5),
        "classify_per_face_in_8_ms": round(median_ms(lambda: model.classify_faces(crops), runs * 5) / 8, 3),
        "photos": {name: end_to_end(model, detector, data, runs) for name, data in photos.items()},
        "photos_per_s_1_thread": throughput(model, photos["1280x960"], 1),
        f"photos_per_s_{os.cpu_count()}_threads": throughput(model, photos["1280x960"], os.cpu_count()),
        "peak_rss_mb": measure_peak_rss(photos),
    }
    for name, (_, _, target) in PHOTOS.items():
        report["photos"][name]["target_ms"] = target
    report["peak_rss_target_mb"] = RSS_TARGET_MB
    return report


def as_text(report: dict) -> str:
    lines = [f"model {report['model_version']}, {report['cpus']} CPUs, "
             f"load average {report['load_average_at_start']} at start",
             f"classification, one face:        {report['classify_one_face_ms']:.2f} ms "
             f"(target <= {CLASSIFY_TARGET_MS:.0f})",
             f"classification, per face in 8:   {report['classify_per_face_in_8_ms']:.2f} ms"]
    for name, row in report["photos"].items():
        faces = f"{row['faces']} face{'' if row['faces'] == 1 else 's'}"
        target = f" (target <= {row['target_ms']:.0f})" if row["target_ms"] else ""
        lines.append(f"{name} JPEG ({row['bytes'] / 1024:.0f} KB, {faces}): {row['e2e_ms']:.1f} ms end to end{target}; "
                     f"decode {row['decode_ms']:.1f}, detect {row['detect_ms']:.1f}, "
                     f"crop+classify {row['crop_classify_ms']:.1f}")
    for key, value in report.items():
        if key.startswith("photos_per_s"):
            lines.append(f"1280x960 photos per second, {key.split('_')[3]} thread(s): {value}")
    lines.append(f"peak RSS, models loaded + {RSS_PHOTOS} photos: {report['peak_rss_mb']:.0f} MB "
                 f"(target <= {report['peak_rss_target_mb']})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.model_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--runs", type=int, default=40, help="timed runs per figure (default 40)")
    args = parser.parse_args(argv)
    try:
        report = run(args.runs)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report) if args.json else as_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
