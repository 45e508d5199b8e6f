"""The Fast DDS transport default is applied unless the user configured DDS themselves."""

from vla_ros.dds import LARGE_DATA, apply_transport_defaults


def test_applies_large_data_by_default():
    env: dict[str, str] = {}
    assert apply_transport_defaults(env) == LARGE_DATA
    assert env["FASTDDS_BUILTIN_TRANSPORTS"] == LARGE_DATA


def test_respects_user_configuration_and_opt_out():
    for key, value in [
        ("FASTDDS_BUILTIN_TRANSPORTS", "UDPv4"),
        ("FASTRTPS_DEFAULT_PROFILES_FILE", "/etc/my_profile.xml"),
        ("FASTDDS_DEFAULT_PROFILES_FILE", "/etc/my_profile.xml"),
        ("VLA_ROS_DDS_DEFAULTS", "0"),
        ("RMW_IMPLEMENTATION", "rmw_cyclonedds_cpp"),
    ]:
        env = {key: value}
        assert apply_transport_defaults(env) is None
        assert env == {key: value}
