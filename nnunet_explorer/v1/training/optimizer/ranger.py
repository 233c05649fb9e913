"""``nnunet.training.optimizer.ranger``: RAdam + Lookahead."""
from nnunet_explorer.training.ranger import Ranger

__all__ = ["Ranger"]
