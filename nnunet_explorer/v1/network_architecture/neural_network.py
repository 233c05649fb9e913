"""``nnunet.network_architecture.neural_network``: the network base classes (``predict_3D`` / ``predict_2D``)."""
from nnunet_explorer.training.segmentation_network import NeuralNetwork, SegmentationNetwork

__all__ = ["NeuralNetwork", "SegmentationNetwork"]
