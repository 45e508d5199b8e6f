"""ONNX detector backend end to end: a tiny conv net exported here, run by ONNX Runtime.

The net's weights are set by hand so its output is known: every 32x32 cell of the input is
averaged by a strided convolution, and a bright cell yields a 96x96 "person" box centred on
it (objectness = sigmoid(gain * (brightness - 0.5))). The test draws bright cells and checks
the boxes that come out of preprocessing, ONNX Runtime, YOLO decoding and NMS.
"""

from __future__ import annotations

import numpy as np
import pytest

from vla_ros.core.perception.detectors import (
    DetectorSpec,
    OnnxDetectorConfig,
    OnnxPersonDetector,
    box_iou,
    decode_yolo_output,
    make_detector,
    non_max_suppression,
)

torch = pytest.importorskip("torch")
# the TorchScript exporter is deprecated but needs no tracing of Python: 4x faster here
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STRIDE, BOX_PX, SIZE = 32, 96.0, 256


class CellDetector(torch.nn.Module):
    """(1, 3, 256, 256) -> (1, 64, 6) rows [cx, cy, w, h, objectness, person score]."""

    def __init__(self, layout: str) -> None:
        super().__init__()
        self.layout = layout
        self.pool = torch.nn.Conv2d(3, 1, kernel_size=STRIDE, stride=STRIDE)
        with torch.no_grad():
            self.pool.weight.fill_(1.0 / (3 * STRIDE * STRIDE))
            self.pool.bias.fill_(-0.5)
        cells = SIZE // STRIDE
        ys, xs = torch.meshgrid(torch.arange(cells), torch.arange(cells), indexing="ij")
        centres = torch.stack([xs, ys], dim=-1).reshape(-1, 2).float() * STRIDE + STRIDE / 2
        self.register_buffer("centres", centres)

    def forward(self, x):
        brightness = self.pool(x).reshape(1, -1, 1)  # (1, 64, 1), 0 for mid-grey
        objectness = torch.sigmoid(40.0 * brightness)
        n = objectness.shape[1]
        wh = torch.full((1, n, 2), BOX_PX)
        person = torch.ones((1, n, 1))
        if self.layout == "yolov5":
            return torch.cat([self.centres[None], wh, objectness, person], dim=2)
        # yolov8: (1, 4 + C, N) with the class score already including objectness
        return torch.cat([self.centres[None], wh, objectness], dim=2).transpose(1, 2)


@pytest.fixture(scope="module", params=["yolov5", "yolov8"])
def exported(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / f"cells_{request.param}.onnx"
    model = CellDetector(request.param).eval()
    torch.onnx.export(
        model, (torch.zeros(1, 3, SIZE, SIZE),), str(path), input_names=["images"], dynamo=False
    )
    return request.param, path


def test_onnx_backend_decodes_known_boxes(exported):
    layout, path = exported
    config = OnnxDetectorConfig(
        model_path=str(path),
        input_width_px=SIZE,
        input_height_px=SIZE,
        output_layout=layout,
        score_threshold=0.5,
        nms_iou=0.45,
    )
    detector = make_detector(
        DetectorSpec(
            backend="onnx",
            options={
                "model_path": str(path),
                "input_width_px": SIZE,
                "input_height_px": SIZE,
                "output_layout": layout,
                "score_threshold": 0.5,
            },
        )
    )
    assert isinstance(detector, OnnxPersonDetector)
    # a 512x512 camera image: 2x the model input, so cells are 64 px and boxes 192 px
    image = np.zeros((512, 512, 3), np.uint8)
    image[64:128, 320:384] = 255  # cell (row 1, col 5): person A, full brightness
    image[64:128, 384:448] = 200  # the neighbouring cell, dimmer: the same person, NMS merges
    image[384:448, 64:128] = 255  # cell (row 6, col 1): person B
    boxes = detector.detect(image)
    assert len(boxes) == 2
    centres = sorted(((b.x_min_px + b.x_max_px) / 2, (b.y_min_px + b.y_max_px) / 2) for b in boxes)
    # person B centred on its cell (96 px box clipped by nothing); person A on the brighter cell
    assert centres[0] == pytest.approx((96.0, 416.0), abs=1e-3)
    assert centres[1] == pytest.approx((352.0, 96.0), abs=1e-3)
    widths = sorted(b.width_px for b in boxes)
    assert widths == pytest.approx([192.0, 192.0], abs=1e-3)
    assert all(0.99 < b.confidence <= 1.0 for b in boxes)
    # without NMS both neighbouring cells would be reported
    raw_model = OnnxPersonDetector(config)
    no_nms = OnnxDetectorConfig(**{**config.__dict__, "nms_iou": 1.0})
    tensor = raw_model.preprocess(image)
    (output,) = raw_model._session.run(None, {"images": tensor})
    assert len(decode_yolo_output(output, no_nms, 512, 512)) == 3
    # an empty image has no people
    assert detector.detect(np.zeros((512, 512, 3), np.uint8)) == []


def test_onnx_output_matches_torch(exported):
    layout, path = exported
    import onnxruntime as ort

    image = np.random.default_rng(0).uniform(0, 1, (1, 3, SIZE, SIZE)).astype(np.float32)
    expected = CellDetector(layout).eval()(torch.from_numpy(image)).detach().numpy()
    (got,) = ort.InferenceSession(str(path)).run(None, {"images": image})
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_missing_model_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="not found"):
        OnnxPersonDetector(OnnxDetectorConfig(model_path="/nonexistent/model.onnx"))


def test_decode_rejects_bad_shapes_and_wrong_class_index():
    config = OnnxDetectorConfig(input_width_px=100, input_height_px=100, person_class_index=3)
    with pytest.raises(ValueError, match="classes"):
        decode_yolo_output(np.zeros((1, 5, 6)), config, 100, 100)
    with pytest.raises(ValueError, match="batch"):
        decode_yolo_output(np.zeros((2, 5, 6)), OnnxDetectorConfig(), 100, 100)


def test_nms_keeps_best_and_containment_suppresses_nested_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [2, 2, 6, 6]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    assert non_max_suppression(boxes, scores, 0.5).tolist() == [0, 2, 3]
    assert non_max_suppression(boxes, scores, 0.5, containment_threshold=0.7).tolist() == [0, 2]
    assert box_iou(boxes[0], boxes[:1])[0] == pytest.approx(1.0)


def test_mediapipe_backend_without_package_is_a_clear_error():
    pytest.importorskip("cv2")
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="mediapipe"):
            make_detector(DetectorSpec(backend="mediapipe"))
    else:
        pytest.skip("mediapipe is installed here: the missing-package error cannot be shown")
