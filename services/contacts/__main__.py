from portalkit.service import run
from services.contacts.service import ContactsSettings, build

run(build, ContactsSettings)
