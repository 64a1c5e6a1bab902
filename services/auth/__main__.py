from kernel.host import main
from services.auth.bootstrap import build
from services.auth.settings import AuthSettings

if __name__ == "__main__":
    main("auth", AuthSettings, build)
