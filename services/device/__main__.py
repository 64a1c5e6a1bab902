from kernel.host import main
from services.device.bootstrap import build
from services.device.settings import DeviceSettings

if __name__ == "__main__":
    main("device", DeviceSettings, build)
