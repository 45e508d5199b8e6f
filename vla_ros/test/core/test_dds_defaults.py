"""The Fast DDS profile default is applied unless the user configured DDS themselves."""

from pathlib import Path

from vla_ros.dds import PROFILE_VAR, apply_transport_defaults


def test_applies_shipped_profile_by_default():
    env: dict[str, str] = {}
    profile = apply_transport_defaults(env)
    assert profile is not None and env[PROFILE_VAR] == profile
    text = Path(profile).read_text()
    assert "<segment_size>16777216</segment_size>" in text
    assert "<useBuiltinTransports>false</useBuiltinTransports>" in text


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
