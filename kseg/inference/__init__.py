"""Running a trained model: load (.keras, SavedModel or .tflite), evaluate, predict, draw."""

from kseg.inference.evaluate import evaluate, write_report
from kseg.inference.markdown import save_training_curves, write_markdown_report
from kseg.inference.predictor import Predictor, keras_predictor, load_predictor
from kseg.inference.predict import predict_files
from kseg.inference.tflite_predictor import TFLitePredictor, tflite_interpreter, tflite_predictor
from kseg.inference.visualize import colorize, overlay, save_confusion_png, save_triptych

__all__ = [
    "Predictor", "TFLitePredictor", "colorize", "keras_predictor", "evaluate", "load_predictor", "overlay",
    "predict_files", "save_confusion_png", "save_training_curves", "save_triptych", "tflite_interpreter", "tflite_predictor",
    "write_markdown_report", "write_report",
]
