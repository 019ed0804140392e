"""Checkpoint -> modules: files and headers, memory-mapped tensors, fusion, the int8 policy and
row cache, random checkpoints, and where a model directory comes from.

This package's __init__ imports nothing: files.py and checkpoint.py stay torch-free for `info`.
"""
