"""Running a trained model: load (.keras, SavedModel, .tflite or .onnx), evaluate, predict many files, draw."""

from kseg.inference.evaluate import evaluate, write_report
from kseg.inference.markdown import save_training_curves, write_markdown_report
from kseg.inference.onnx_predictor import OnnxPredictor, onnx_predictor
from kseg.inference.predict import predict_files, predict_many
from kseg.inference.predictor import Predictor, keras_predictor, load_predictor
from kseg.inference.process import ModelSpec, process_task
from kseg.inference.tasks import Task, list_tasks
from kseg.inference.tflite_predictor import TFLitePredictor, tflite_interpreter, tflite_predictor
from kseg.inference.visualize import colorize, overlay, save_confusion_png, save_triptych

__all__ = [
    "ModelSpec", "OnnxPredictor", "Predictor", "TFLitePredictor", "Task", "colorize", "evaluate", "keras_predictor",
    "list_tasks", "load_predictor", "onnx_predictor", "overlay", "predict_files", "predict_many", "process_task",
    "save_confusion_png", "save_training_curves", "save_triptych", "tflite_interpreter", "tflite_predictor",
    "write_markdown_report", "write_report",
]
