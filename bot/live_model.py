"""The emotion model the bot is using right now, swapped for a newer one when its files change on disk.

`python -m train.retrain` promotes a model by rewriting `emotion.tflite` and its `.json` metadata. The bot
notices at most `check_seconds` later (it compares the files' modification times before a photo is
analysed), or at once on SIGHUP, and loads the new one without a restart. A file that fails to load
(say, half written) leaves the current model in place; it is tried again at the next check.
"""

import logging
import threading
import time
from pathlib import Path

from model import EmotionModel, FaceEmotion

log = logging.getLogger(__name__)


class LiveModel:
    """An EmotionModel that reloads itself when its files change; thread-safe like the model itself."""

    def __init__(self, path: Path, check_seconds: float = 30.0, clock=time.monotonic):
        self.path = Path(path)
        self.check_seconds = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._model = EmotionModel.load(self.path)
        self._checked_at = clock()

    @property
    def version(self) -> str:
        return self._model.version

    def analyze(self, image_bytes: bytes) -> tuple[list[FaceEmotion], str]:
        """Faces in the photo (largest first) and the version of the model that read them."""
        model = self._current()
        return model.analyze(image_bytes), model.version

    def reload_if_changed(self, force: bool = False) -> bool:
        """Load the model again if its files changed since the last load (or always, if forced)."""
        with self._lock:
            self._checked_at = self._clock()
            stamp = self._file_stamp()
            if stamp == self._stamp and not force:
                return False
            try:
                model = EmotionModel.load(self.path)
            except Exception:
                log.exception("Could not load the model at %s; still using version %s", self.path, self.version)
                return False
            previous, self._model, self._stamp = self._model.version, model, stamp
            log.info("Loaded model version %s from %s (was %s)", model.version, self.path, previous)
            return True

    def _current(self):
        if self._clock() - self._checked_at >= self.check_seconds:
            self.reload_if_changed()
        return self._model

    def _file_stamp(self) -> tuple[int, ...]:
        """Modification times of the model file and its metadata: a promotion rewrites both."""
        files = (self.path, self.path.with_suffix(".json"))
        return tuple(file.stat().st_mtime_ns if file.exists() else 0 for file in files)
