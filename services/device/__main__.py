from kernel.host import main
from services.device.bootstrap import build

if __name__ == "__main__":
    main("device", build)
