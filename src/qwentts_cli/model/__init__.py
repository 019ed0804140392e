"""The networks, as modules only: shared transformer layers, the talker and its code predictor,
the codec decoder, int8 linears. They import torch and the config, never the loaders."""
