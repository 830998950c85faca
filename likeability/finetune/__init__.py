"""Fine-tuning the CNN with a 2-way last layer on Ray Train (the study's Caffe recipe), and its best model.

The stage lives in `finetune.stage` (Ray), the model in `finetune.model`, the steps and crops in Ray-free modules.
"""
