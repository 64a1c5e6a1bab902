from kernel.host import main
from services.billing.bootstrap import build

if __name__ == "__main__":
    main("billing", build)
