"""Images, each from the repository's own Dockerfile (all take ARG BASE_IMAGE)."""

import dagger
from dagger import BuildArg

from . import consts as c


def image(source: dagger.Directory, component: str, base_image: str = "") -> dagger.Container:
    """Build a provider's gateway, 'mock' or 'nginx'; base_image overrides ARG BASE_IMAGE."""
    args = [BuildArg(name="BASE_IMAGE", value=base_image)] if base_image else []
    return source.docker_build(dockerfile=c.dockerfile(component), build_args=args)


def gateway_image(source: dagger.Directory, provider: str, base_image: str = "") -> dagger.Container:
    """A provider's gateway image from services/Dockerfile.<provider>."""
    return image(source, provider, base_image)


def gateway_images(source: dagger.Directory, base_image: str = "") -> dict[str, dagger.Container]:
    """All provider images, keyed by provider."""
    return {p: image(source, p, base_image) for p in c.PROVIDERS}


def edge_image(source: dagger.Directory, base_image: str = "") -> dagger.Container:
    """The nginx image from nginx/Dockerfile (renders its config from NGINX_* at start)."""
    return image(source, "nginx", base_image)


def mock_image(source: dagger.Directory, base_image: str = "") -> dagger.Container:
    """The mock upstream image from services/Dockerfile.mock."""
    return image(source, "mock", base_image)
