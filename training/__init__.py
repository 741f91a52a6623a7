"""SignStream training: data import and synthesis, models, distillation, evaluation, export.

Imports torch only in the modules that train; data tooling works without it.
"""
