"""Rebuild a trainable Keras network from an exported emotion model, when the run's checkpoint is gone.

`python -m train` keeps the exported network as `<workdir>/reader.keras`, but work folders are not committed: a new
machine has only `model/emotion.tflite`. That file holds every weight the network has, with each batch norm folded
into the convolution or dense layer before it and the weights quantized to int8 per output channel. Dequantized,
they go back into `train.network.build_model`'s layers (kernel = the folded weights, batch norm = identity plus the
folded bias), which computes the same function to within the int8 rounding, ready to be fine-tuned. The batch norms
are frozen: in training mode they would normalise by each batch's statistics, which the folded weights never saw.
"""

from pathlib import Path

import keras
import numpy as np
from ai_edge_litert.interpreter import Interpreter

from train.network import build_model


def network_from_tflite(path: str | Path, width: float) -> keras.Model:
    """`build_model(width)` carrying the weights of the exported model at `path` (float32)."""
    interpreter = Interpreter(str(path))
    interpreter.allocate_tensors()
    layers = _folded_layers(interpreter)
    network = build_model(width=width)
    convs = [layer for layer in network.layers if isinstance(layer, keras.layers.Conv2D)]
    denses = [layer for layer in network.layers if isinstance(layer, keras.layers.Dense)]
    norms = [layer for layer in network.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if len(layers) != len(convs) + len(denses) or len(norms) != len(layers) - 1:
        raise ValueError(f"{path} has {len(layers)} weighted layers; a width-{width} network has "
                         f"{len(convs) + len(denses)}")
    for (kernel, bias), layer in zip(layers, convs + denses):
        if kernel.ndim == 4:
            kernel = kernel.transpose(1, 2, 3, 0)  # TFLite (out, h, w, in) -> Keras (h, w, in, out)
        else:
            kernel = kernel.T  # (out, in) -> (in, out)
        if layer.kernel.shape != kernel.shape:
            raise ValueError(f"{path}: weights of shape {kernel.shape} do not fit layer {layer.name} "
                             f"{layer.kernel.shape} of a width-{width} network")
        if layer.use_bias:
            layer.set_weights([kernel, bias])
        else:
            layer.set_weights([kernel])
    for norm, (_, bias) in zip(norms, layers):
        identity_variance = np.full_like(bias, 1.0 - norm.epsilon)
        norm.set_weights([np.ones_like(bias), bias, np.zeros_like(bias), identity_variance])
        norm.trainable = False  # Keras runs a frozen batch norm in inference mode, training or not
    return network


def _folded_layers(interpreter: Interpreter) -> list[tuple[np.ndarray, np.ndarray]]:
    """(dequantized weights, dequantized bias) of each convolution and dense layer, in the order they run.

    The exported reader runs the network twice (the face and its mirror image): both passes share the weights, so
    each weight tensor is taken once, with the bias of its first use."""
    seen, layers = set(), []
    for op in interpreter._get_ops_details():
        if op["op_name"] not in ("CONV_2D", "FULLY_CONNECTED") or op["inputs"][1] in seen:
            continue
        seen.add(op["inputs"][1])
        layers.append(tuple(_dequantized(interpreter, index) for index in op["inputs"][1:3]))
    return layers


def _dequantized(interpreter: Interpreter, index: int) -> np.ndarray:
    details = interpreter.get_tensor_details()[index]
    values = interpreter.get_tensor(index).astype(np.float32)
    scales = details["quantization_parameters"]["scales"]
    if len(scales) == 0:
        return values
    zero_points = details["quantization_parameters"]["zero_points"]
    shape = (-1,) + (1,) * (values.ndim - 1)  # per output channel: the first axis
    return (values - zero_points.reshape(shape).astype(np.float32)) * scales.reshape(shape).astype(np.float32)
