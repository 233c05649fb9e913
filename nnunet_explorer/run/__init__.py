"""v1's ``nnunet.run``: what ``nnUNet_train`` does once its arguments are parsed (no argparse here)."""
