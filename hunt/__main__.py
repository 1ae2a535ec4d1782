from hunt.cli import main

raise SystemExit(main())
