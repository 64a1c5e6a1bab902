from kernel.host import main
from services.messaging.bootstrap import build

if __name__ == "__main__":
    main("messaging", build)
