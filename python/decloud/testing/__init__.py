"""Test support shipped with the package (for this project's tests, benchmarks and users' own tests): generated
Sentinel-2 / Sentinel-1 products named as real ones (:mod:`.synthetic_products`), small SavedModels whose outputs
are known in closed form (:mod:`.toymodels`), and the fixtures of the C++ application tests (:mod:`.testdata`,
``python -m decloud.testing.testdata DIR``). Nothing in :mod:`decloud` outside this package imports it."""
