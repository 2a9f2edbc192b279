from annbench.adapters.protocol import Adapter


class Broken(Adapter):
    pass
