"""What bench/task_engines.py asks each engine: a chat question, and a seven-field returns
form (as a shop would put on its own page) filled from a customer's e-mail, with the values a
right fill writes."""

CHAT_QUESTION = "Give me three tips for writing a clear e-mail."

RETURNS_FORM = """<form id="returns-form">
  <label>Full name <input name="name" autocomplete="name"></label>
  <label>Email <input name="email" type="email" autocomplete="email"></label>
  <label>Order number <input name="order"></label>
  <label>Product <input name="product"></label>
  <label>Reason for the return <select name="reason">
    <option value="">Choose one</option><option value="damaged">Arrived damaged</option>
    <option value="wrong-item">Wrong item</option><option value="wrong-size">Wrong size</option>
    <option value="changed-mind">Changed my mind</option></select></label>
  <label>Purchase date <input name="purchased" type="date"></label>
  <fieldset><legend>What would you like?</legend>
    <label><input type="radio" name="resolution" value="refund"> Refund</label>
    <label><input type="radio" name="resolution" value="exchange"> Exchange</label></fieldset>
</form>"""

RETURNS_TEXT = """Hello,

I would like to return the hiking boots from order A-48213, bought on 2026-11-14.
They arrived damaged: the left sole is torn. Please send me a refund.

Thanks,
Daniel Okafor
daniel.okafor@example.net"""

# A field is right when the form holds exactly this after the fill.
RETURNS_EXPECTED = {
    "name": "Daniel Okafor",
    "email": "daniel.okafor@example.net",
    "order": "A-48213",
    "product": "hiking boots",
    "reason": "damaged",
    "purchased": "2026-11-14",
    "resolution": "refund",
}
