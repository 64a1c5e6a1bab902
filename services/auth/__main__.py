from kernel.host import main
from services.auth.bootstrap import build

if __name__ == "__main__":
    main("auth", build)
