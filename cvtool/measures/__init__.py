"""Measures, one job per module.

- :mod:`cvtool.measures.information`: probability vectors and logits (entropy, cross-entropy,
  KL divergence, logsumexp, softmax, log_softmax), in any logarithm base;
- :mod:`cvtool.measures.image_entropy`: exact histograms, image entropy, local entropy maps;
- :mod:`cvtool.measures.batch_stats`: per-channel batch statistics and batch normalization.
"""
