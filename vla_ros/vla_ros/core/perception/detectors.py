"""Channel 1: people in the colour image, behind a small pluggable detector interface.

Backends: OpenCV's HOG people detector (default, no model file), an ONNX detector loaded
from a local path (YOLO-style output decoded here, with NMS) and MediaPipe pose (optional).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class PersonBox:
    """One person in the image: an axis-aligned box in pixels and a confidence in [0, 1]."""

    x_min_px: float  # left edge
    y_min_px: float  # top edge
    x_max_px: float  # right edge (exclusive)
    y_max_px: float  # bottom edge (exclusive)
    confidence: float  # detector confidence in [0, 1]

    def __post_init__(self) -> None:
        coords = (self.x_min_px, self.y_min_px, self.x_max_px, self.y_max_px)
        if not all(math.isfinite(c) for c in coords) or not math.isfinite(self.confidence):
            raise ValueError(f"box must be finite, got {coords} conf {self.confidence}")
        if self.x_max_px <= self.x_min_px or self.y_max_px <= self.y_min_px:
            raise ValueError(f"box has no area: {coords}")

    @property
    def width_px(self) -> float:
        """Box width."""
        return self.x_max_px - self.x_min_px

    @property
    def height_px(self) -> float:
        """Box height."""
        return self.y_max_px - self.y_min_px

    def as_array(self) -> np.ndarray:
        """(x_min, y_min, x_max, y_max)."""
        return np.array([self.x_min_px, self.y_min_px, self.x_max_px, self.y_max_px])

    def clipped(self, width_px: int, height_px: int) -> PersonBox | None:
        """The part of the box inside an image of the given size, or None if nothing is."""
        x0, x1 = max(0.0, self.x_min_px), min(float(width_px), self.x_max_px)
        y0, y1 = max(0.0, self.y_min_px), min(float(height_px), self.y_max_px)
        if x1 <= x0 or y1 <= y0:
            return None
        return PersonBox(x0, y0, x1, y1, self.confidence)


class PersonDetector(Protocol):
    """Finds people in an RGB image."""

    name: str

    def detect(self, rgb: np.ndarray) -> list[PersonBox]:
        """(H, W, 3) uint8 RGB -> boxes in that image's pixels."""
        ...


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one (4,) xyxy box with each row of (N, 4)."""
    others = np.asarray(others, dtype=np.float64).reshape(-1, 4)
    ix0 = np.maximum(box[0], others[:, 0])
    iy0 = np.maximum(box[1], others[:, 1])
    ix1 = np.minimum(box[2], others[:, 2])
    iy1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(ix1 - ix0, 0.0, None) * np.clip(iy1 - iy0, 0.0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.where(union > 0.0, inter / np.where(union > 0.0, union, 1.0), 0.0)


def box_containment(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over the smaller box's area, for one (4,) box against (N, 4)."""
    others = np.asarray(others, dtype=np.float64).reshape(-1, 4)
    iw = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    ih = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    smaller = np.minimum(area, areas)
    return np.where(smaller > 0.0, inter / np.where(smaller > 0.0, smaller, 1.0), 0.0)


def non_max_suppression(
    boxes_xyxy: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float,
    containment_threshold: float = 1.0,
) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, highest score first.

    A box is also dropped when more than `containment_threshold` of the smaller of it and a
    kept box lies in their intersection (sliding-window detectors fire at several scales on
    one person, and a big box around a small one has a low IoU).
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep: list[int] = []
    while order.size > 0:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        survive = box_iou(boxes[best], boxes[rest]) <= iou_threshold
        if containment_threshold < 1.0:
            survive &= box_containment(boxes[best], boxes[rest]) <= containment_threshold
        order = rest[survive]
    return np.asarray(keep, dtype=np.int64)


def _box_from_row(row: np.ndarray, confidence: float) -> PersonBox:
    return PersonBox(float(row[0]), float(row[1]), float(row[2]), float(row[3]), confidence)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    image = np.asarray(rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"need a (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    return image


# ----------------------------------------------------------------------------- HOG


@dataclass(frozen=True)
class HogDetectorConfig:
    """OpenCV HOG + linear SVM people detector (Dalal-Triggs, 64x128 window)."""

    upscale: float = 1.0  # resize factor before detection (>1 finds people under ~100 px)
    win_stride_px: int = 8  # sliding-window step at each scale
    scale_step: float = 1.1  # image pyramid factor (1.05: ~2x the cost, no recall gained here)
    hit_threshold: float = 0.0  # SVM margin a window needs
    min_confidence: float = 0.3  # boxes below this confidence are dropped
    nms_iou: float = 0.45  # overlapping boxes above this IoU are merged
    nms_containment: float = 0.7  # ... and boxes whose smaller one lies this much inside the other
    confidence_scale: float = 1.0  # confidence = 1 - exp(-weight / confidence_scale)

    def __post_init__(self) -> None:
        if not 0.1 <= self.upscale <= 4.0:
            raise ValueError(f"upscale must be in [0.1, 4], got {self.upscale}")
        if self.win_stride_px not in (4, 8, 16):
            raise ValueError(f"win_stride_px must be 4, 8 or 16, got {self.win_stride_px}")
        if not 1.0 < self.scale_step <= 2.0:
            raise ValueError(f"scale_step must be in (1, 2], got {self.scale_step}")
        if not 0.0 <= self.min_confidence <= 1.0 or not 0.0 < self.nms_iou <= 1.0:
            raise ValueError("min_confidence must be in [0, 1] and nms_iou in (0, 1]")
        if not 0.0 < self.nms_containment <= 1.0:
            raise ValueError(f"nms_containment must be in (0, 1], got {self.nms_containment}")
        if self.confidence_scale <= 0.0:
            raise ValueError("confidence_scale must be positive")


class HogPersonDetector:
    """OpenCV's default people detector: finds standing full-body people, misses partial views."""

    name = "hog"

    def __init__(self, config: HogDetectorConfig | None = None) -> None:
        import cv2  # lazy: light nodes import this module without OpenCV

        self.config = config or HogDetectorConfig()
        self._cv2 = cv2
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector()))

    def detect(self, rgb: np.ndarray) -> list[PersonBox]:
        """Boxes of standing people, in the input image's pixels."""
        cv2 = self._cv2
        cfg = self.config
        image = _check_rgb(rgb)
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if cfg.upscale != 1.0:
            gray = cv2.resize(gray, None, fx=cfg.upscale, fy=cfg.upscale)
        if gray.shape[0] < 128 or gray.shape[1] < 64:
            return []
        rects, weights = self._hog.detectMultiScale(
            gray,
            hitThreshold=cfg.hit_threshold,
            winStride=(cfg.win_stride_px, cfg.win_stride_px),
            padding=(8, 8),
            scale=cfg.scale_step,
        )
        if len(rects) == 0:
            return []
        windows = np.asarray(rects, dtype=np.float64).reshape(-1, 4) / cfg.upscale
        # the 64x128 window has ~16 px of margin around a ~96 px person; trim it so that boxes
        # hug the person and the depth lifted from the box is the person's, not the floor's
        pad_x, pad_y = windows[:, 2] * 0.125, windows[:, 3] * 0.0625
        xyxy = np.stack(
            [
                windows[:, 0] + pad_x,
                windows[:, 1] + pad_y,
                windows[:, 0] + windows[:, 2] - pad_x,
                windows[:, 1] + windows[:, 3] - pad_y,
            ],
            axis=1,
        )
        confidence = 1.0 - np.exp(
            -np.asarray(weights, dtype=np.float64).reshape(-1) / cfg.confidence_scale
        )
        keep = non_max_suppression(xyxy, confidence, cfg.nms_iou, cfg.nms_containment)
        out = []
        for i in keep:
            if confidence[i] >= cfg.min_confidence:
                out.append(_box_from_row(xyxy[i], float(confidence[i])))
        return out


# ----------------------------------------------------------------------------- ONNX


@dataclass(frozen=True)
class OnnxDetectorConfig:
    """A local ONNX detection model with YOLO-style output (decoded and NMS'd here)."""

    model_path: str = ""  # local .onnx file; nothing is downloaded
    input_width_px: int = 640  # the model's input width (image is resized, not letterboxed)
    input_height_px: int = 640  # the model's input height
    output_layout: str = "yolov5"  # yolov5: (1, N, 5+C) with objectness; yolov8: (1, 4+C, N)
    person_class_index: int = 0  # class id of "person" in the model's label set
    score_threshold: float = 0.4  # minimum person score (objectness * class score for yolov5)
    nms_iou: float = 0.45  # overlapping boxes above this IoU are merged
    num_threads: int = 1  # ONNX Runtime intra-op threads

    def __post_init__(self) -> None:
        if self.input_width_px <= 0 or self.input_height_px <= 0:
            raise ValueError("input size must be positive")
        if self.output_layout not in ("yolov5", "yolov8"):
            raise ValueError(f"output_layout must be yolov5 or yolov8, got {self.output_layout}")
        if self.person_class_index < 0:
            raise ValueError("person_class_index must be >= 0")
        if not 0.0 <= self.score_threshold <= 1.0 or not 0.0 < self.nms_iou <= 1.0:
            raise ValueError("score_threshold must be in [0, 1] and nms_iou in (0, 1]")
        if self.num_threads < 1:
            raise ValueError("num_threads must be >= 1")


def decode_yolo_output(
    output: np.ndarray, config: OnnxDetectorConfig, image_width_px: int, image_height_px: int
) -> list[PersonBox]:
    """Raw model output -> person boxes in the original image's pixels (after NMS)."""
    raw = np.asarray(output, dtype=np.float64)
    if raw.ndim == 3:
        if raw.shape[0] != 1:
            raise ValueError(f"expected batch size 1, got output shape {raw.shape}")
        raw = raw[0]
    if raw.ndim != 2:
        raise ValueError(f"detector output must be 2D or (1, ., .), got shape {output.shape}")
    if config.output_layout == "yolov8":
        rows = raw.T  # (N, 4 + C)
        n_classes = rows.shape[1] - 4
        if config.person_class_index >= n_classes:
            raise ValueError(
                f"output has {n_classes} classes, person index {config.person_class_index}"
            )
        scores = rows[:, 4 + config.person_class_index]
    else:
        rows = raw  # (N, 5 + C)
        n_classes = rows.shape[1] - 5
        if config.person_class_index >= n_classes:
            raise ValueError(
                f"output has {n_classes} classes, person index {config.person_class_index}"
            )
        scores = rows[:, 4] * rows[:, 5 + config.person_class_index]
    mask = np.isfinite(scores) & (scores >= config.score_threshold)
    if not np.any(mask):
        return []
    sel = rows[mask]
    scores = scores[mask]
    sx = image_width_px / config.input_width_px
    sy = image_height_px / config.input_height_px
    cx, cy, w, h = sel[:, 0] * sx, sel[:, 1] * sy, sel[:, 2] * sx, sel[:, 3] * sy
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    good = np.all(np.isfinite(xyxy), axis=1) & (w > 0) & (h > 0)
    xyxy, scores = xyxy[good], scores[good]
    out = []
    for i in non_max_suppression(xyxy, scores, config.nms_iou):
        box = _box_from_row(xyxy[i], float(np.clip(scores[i], 0.0, 1.0)))
        clipped = box.clipped(image_width_px, image_height_px)
        if clipped is not None:
            out.append(clipped)
    return out


class OnnxPersonDetector:
    """Runs a local ONNX model with ONNX Runtime (CPU) and decodes YOLO-style boxes."""

    name = "onnx"

    def __init__(self, config: OnnxDetectorConfig) -> None:
        path = Path(config.model_path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX person detector model not found: '{config.model_path}'")
        import onnxruntime as ort  # lazy: heavy, and only this backend needs it

        self.config = config
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.num_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_name = self._session.get_inputs()[0].name

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 -> (1, 3, H, W) float32 in [0, 1] at the model's input size."""
        import cv2

        image = _check_rgb(rgb)
        resized = cv2.resize(
            image,
            (self.config.input_width_px, self.config.input_height_px),
            interpolation=cv2.INTER_LINEAR,
        )
        return np.ascontiguousarray(resized.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)

    def detect(self, rgb: np.ndarray) -> list[PersonBox]:
        """Boxes of people, in the input image's pixels."""
        image = _check_rgb(rgb)
        (output, *_) = self._session.run(None, {self._input_name: self.preprocess(image)})
        return decode_yolo_output(output, self.config, image.shape[1], image.shape[0])


# ----------------------------------------------------------------------------- MediaPipe


@dataclass(frozen=True)
class MediapipeDetectorConfig:
    """MediaPipe pose (needs the optional `mediapipe` package, which bundles its models)."""

    min_detection_confidence: float = 0.5  # MediaPipe's detection threshold
    min_visibility: float = 0.5  # landmarks below this visibility do not extend the box
    box_margin: float = 0.1  # box grows by this fraction of its size on each side

    def __post_init__(self) -> None:
        if (
            not 0.0 <= self.min_detection_confidence <= 1.0
            or not 0.0 <= self.min_visibility <= 1.0
        ):
            raise ValueError("confidences must be in [0, 1]")
        if not 0.0 <= self.box_margin <= 1.0:
            raise ValueError("box_margin must be in [0, 1]")


class MediapipePoseDetector:
    """One person per image from MediaPipe pose landmarks (upper-body views included)."""

    name = "mediapipe"

    def __init__(self, config: MediapipeDetectorConfig | None = None) -> None:
        try:
            import mediapipe as mp  # optional dependency
        except ImportError as exc:
            raise RuntimeError(
                "detector backend 'mediapipe' needs the optional package mediapipe==0.10.21 "
                "(pip install mediapipe==0.10.21; it pins numpy<2); use backend 'hog' or 'onnx'"
            ) from exc
        self.config = config or MediapipeDetectorConfig()
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=False, min_detection_confidence=self.config.min_detection_confidence
        )

    def detect(self, rgb: np.ndarray) -> list[PersonBox]:
        """At most one box: the landmarks' extent."""
        image = _check_rgb(rgb)
        result = self._pose.process(image)
        if result.pose_landmarks is None:
            return []
        height, width = image.shape[:2]
        pts = [
            (lm.x * width, lm.y * height)
            for lm in result.pose_landmarks.landmark
            if lm.visibility >= self.config.min_visibility
        ]
        if len(pts) < 2:
            return []
        arr = np.asarray(pts)
        x0, y0 = arr.min(axis=0)
        x1, y1 = arr.max(axis=0)
        mx, my = (x1 - x0) * self.config.box_margin, (y1 - y0) * self.config.box_margin
        if x1 <= x0 or y1 <= y0:
            return []
        visibility = float(np.mean([lm.visibility for lm in result.pose_landmarks.landmark]))
        box = PersonBox(x0 - mx, y0 - my, x1 + mx, y1 + my, visibility)
        clipped = box.clipped(width, height)
        return [] if clipped is None else [clipped]


# ----------------------------------------------------------------------------- factory


@dataclass(frozen=True)
class DetectorSpec:
    """Which backend to build and its settings (from the YAML's `detector.*` parameters)."""

    backend: str = "hog"  # hog | onnx | mediapipe | none
    options: dict[str, Any] = field(default_factory=dict)  # fields of that backend's config

    def __post_init__(self) -> None:
        if self.backend not in ("hog", "onnx", "mediapipe", "none"):
            raise ValueError(
                f"detector backend must be hog, onnx, mediapipe or none, got '{self.backend}'"
            )


def make_detector(spec: DetectorSpec) -> PersonDetector | None:
    """Build the configured backend; None for 'none' (depth channel only)."""
    if spec.backend == "hog":
        return HogPersonDetector(HogDetectorConfig(**spec.options))
    if spec.backend == "onnx":
        return OnnxPersonDetector(OnnxDetectorConfig(**spec.options))
    if spec.backend == "mediapipe":
        return MediapipePoseDetector(MediapipeDetectorConfig(**spec.options))
    return None
