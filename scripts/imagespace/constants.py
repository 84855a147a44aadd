"""Constants shared by several modules: one definition each."""

# a clustering whose largest cluster holds more than this share of the points found no structure: the DBSCAN
# scan rejects such a candidate, and the summary warns about such a clustering
DOMINANT_SHARE = 0.9
