"""Training, evaluation and export of the emotion model (the only place TensorFlow is used)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the progress log
