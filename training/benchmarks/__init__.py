"""Real-data benchmarks built on the core: BOSTON-104 sentences, WLASL-50 clips, and the
tutorial LSTM peer (what the MediaPipe tutorials train), each a user of the training core."""
