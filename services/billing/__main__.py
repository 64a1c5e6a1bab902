from kernel.host import main
from services.billing.bootstrap import build
from services.billing.settings import BillingSettings

if __name__ == "__main__":
    main("billing", BillingSettings, build)
