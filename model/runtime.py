"""Running a `.tflite` model on the LiteRT interpreter from several threads at once.

An interpreter is not thread-safe, but its `invoke()` releases the GIL. So the model file is read once and each
thread gets its own single-threaded interpreter on first use: photos handled by an executor's threads are
classified in parallel, one core each, and nothing is shared but the model bytes.

LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." straight to the process's stderr (file
descriptor 2, below Python) on the first tensor allocation of the process, whatever TF_CPP_MIN_LOG_LEVEL says.
Stderr is for what a user should read, so that one allocation runs with descriptor 2 pointed at /dev/null.
"""

import hashlib
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter


class ThreadLocalModel:
    """One `.tflite` model; `run(batch)` returns its outputs for a batch of any size, from any thread."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._content = self.path.read_bytes()
        self.sha256 = hashlib.sha256(self._content).hexdigest()  # of exactly the bytes this model runs
        self._local = threading.local()
        interpreter = self._interpreter()  # fail here, on load, if the file is not a model
        self.input_shape = tuple(int(n) for n in interpreter.get_input_details()[0]["shape"])
        self.output_shapes = [tuple(int(n) for n in d["shape"]) for d in interpreter.get_output_details()]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """All outputs of the model for `batch` (first axis = batch), in the model's output order."""
        interpreter = self._interpreter()
        source = interpreter.get_input_details()[0]
        if tuple(source["shape"]) != batch.shape:
            interpreter.resize_tensor_input(source["index"], batch.shape)
            interpreter.allocate_tensors()
        interpreter.set_tensor(source["index"], batch)
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]

    def _interpreter(self) -> Interpreter:
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = Interpreter(model_content=self._content, num_threads=1)
            _allocate(interpreter)
            self._local.interpreter = interpreter
        return interpreter


_first_allocation = threading.Lock()
_allocated_before = False


def _allocate(interpreter: Interpreter) -> None:
    """`allocate_tensors()`, the process's first one without LiteRT's line on stderr (see the module docstring)."""
    global _allocated_before
    with _first_allocation:
        if not _allocated_before:
            with _stderr_descriptor_silenced():
                interpreter.allocate_tensors()
            _allocated_before = True
            return
    interpreter.allocate_tensors()


@contextmanager
def _stderr_descriptor_silenced():
    if sys.stderr is not None:
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 at all (a daemon): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
