from kernel.host import main
from services.messaging.bootstrap import build
from services.messaging.settings import MessagingSettings

if __name__ == "__main__":
    main("messaging", MessagingSettings, build)
