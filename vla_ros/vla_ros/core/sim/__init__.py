"""MuJoCo simulated robot cell (ROS-free): scene, tasks, person, trajectory executor, expert."""
