"""Running a `.tflite` model on the LiteRT interpreter from several threads at once.

An interpreter is not thread-safe, but its `invoke()` releases the GIL. So the model file is read once and each
thread gets its own single-threaded interpreter on first use: photos handled by an executor's threads are
classified in parallel, one core each, and nothing is shared but the model bytes.
"""

import hashlib
import threading
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
            interpreter.allocate_tensors()
            self._local.interpreter = interpreter
        return interpreter
