"""Model families: teachers, students and the tutorial-style peer baseline (PyTorch)."""
