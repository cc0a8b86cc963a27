"""Install DDAVS-MM: ``pip install -e . -c requirements/constraints.txt``."""
import os.path as osp
from setuptools import find_packages, setup


def read_requirements(fname: str) -> list:
    """Read a requirements file, dropping comments and blank lines."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'requirements', fname)
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def get_version() -> str:
    scope = {}
    root = osp.dirname(osp.abspath(__file__))
    path = osp.join(root, 'ddavs_mm', 'version.py')
    with open(path) as f:
        exec(compile(f.read(), path, 'exec'), scope)
    return scope['__version__']


setup(
    name='ddavs_mm',
    version=get_version(),
    description=('DDAVS audio-visual segmentation as an MMSegmentation 1.x '
                 'plugin'),
    long_description=(open('README.md').read()
                      if osp.exists('README.md') else ''),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['ddavs_mm', 'ddavs_mm.*']),
    python_requires='>=3.11',
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    license='Apache-2.0',
    zip_safe=False,
)
