"""Quality measurements on real data sets: metrics and the evaluations that compute them."""
