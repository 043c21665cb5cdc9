from django.conf import settings


def test_it_runs_with_the_test_profile():
    assert settings.ENVIRONMENT == "test"
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]
