"""Fine-tuning the CNN with a 2-way last layer on Ray Train (the study's Caffe recipe), and its best model."""

from likeability.finetune.model import FinetunedModel, load_finetuned
from likeability.finetune.stage import run_finetune

__all__ = ["FinetunedModel", "load_finetuned", "run_finetune"]
