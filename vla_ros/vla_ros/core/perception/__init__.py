"""Human perception: people in RGB lifted to 3D, unexplained depth intrusions, and a tracker."""
