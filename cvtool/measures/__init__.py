"""Measures: information (entropy, cross-entropy, KL, softmax), image entropy, batch statistics."""
