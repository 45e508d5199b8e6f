"""Voice and typed commands: grammar, VAD segmentation, recognition, spoken feedback (ROS-free).

Importing this package is light: pocketsphinx, onnxruntime and webrtcvad load only when a
recogniser or detector is constructed.
"""

from vla_ros.core.speech.asr import AsrConfig, Transcript
from vla_ros.core.speech.config import SpeechConfig, load_speech_config
from vla_ros.core.speech.grammar import CommandGrammar, CommandKind, VocabularyConfig
from vla_ros.core.speech.recognizer import CommandRecognizer, Recognition, recognize_text
from vla_ros.core.speech.vad import UtteranceSegmenter, VadConfig

__all__ = [
    "AsrConfig",
    "CommandGrammar",
    "CommandKind",
    "CommandRecognizer",
    "Recognition",
    "SpeechConfig",
    "Transcript",
    "UtteranceSegmenter",
    "VadConfig",
    "VocabularyConfig",
    "load_speech_config",
    "recognize_text",
]
