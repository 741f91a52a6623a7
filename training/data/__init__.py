"""Data for training: datasets, splits, augmentation, sentence synthesis."""
