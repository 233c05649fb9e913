"""``nnunet.evaluation.region_based_evaluation``: Dice of label unions (BraTS / KiTS regions), ``summary.csv``."""
from nnunet_explorer.inference.region_evaluation import (create_region_from_mask, evaluate_case, evaluate_regions,
                                                         get_brats_regions, get_KiTS_regions)

__all__ = ["create_region_from_mask", "evaluate_case", "evaluate_regions", "get_KiTS_regions", "get_brats_regions"]
