package logql

import (
	"fmt"
	"regexp"
)

var binOpPrec = map[string]int{
	"or": 1, "and": 2, "unless": 2,
	"==": 3, "!=": 3, ">": 3, ">=": 3, "<": 3, "<=": 3,
	"+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "^": 6,
}

var binOpTokens = map[tokKind]string{
	tCmpEq: "==", tNeq: "!=", tGt: ">", tGte: ">=", tLt: "<", tLte: "<=",
	tAdd: "+", tSub: "-", tMul: "*", tDiv: "/", tMod: "%", tPow: "^",
}

func isComparison(op string) bool { return binOpPrec[op] == 3 }
func isSetOp(op string) bool      { return binOpPrec[op] <= 2 }

// peekBinOp returns the binary operator at the cursor, if any.
func (p *parser) peekBinOp() (string, bool) {
	t := p.peek()
	if t.kind == tIdent && (t.text == "and" || t.text == "or" || t.text == "unless") {
		return t.text, true
	}
	op, ok := binOpTokens[t.kind]
	return op, ok
}

// parseExpr parses binary operations by precedence climbing; ^ is right
// associative, the others left associative.
func (p *parser) parseExpr(minPrec int) (Expr, error) {
	lhs, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		op, ok := p.peekBinOp()
		if !ok || binOpPrec[op] < minPrec {
			return lhs, nil
		}
		opTok := p.next()
		be := &BinOpExpr{Op: op}
		if err := p.parseBinOpModifiers(be); err != nil {
			return nil, err
		}
		next := binOpPrec[op] + 1
		if op == "^" {
			next = binOpPrec[op]
		}
		rhs, err := p.parseExpr(next)
		if err != nil {
			return nil, err
		}
		if be.LHS, err = p.asSample(lhs, opTok); err != nil {
			return nil, err
		}
		if be.RHS, err = p.asSample(rhs, opTok); err != nil {
			return nil, err
		}
		if err := p.checkBinOp(be, opTok); err != nil {
			return nil, err
		}
		lhs = be
	}
}

func (p *parser) asSample(e Expr, at token) (SampleExpr, error) {
	if se, ok := e.(SampleExpr); ok {
		return se, nil
	}
	return nil, p.errAt(at, "syntax error: binary operation %q needs metric queries on both sides, not a log query", at.text)
}

func (p *parser) checkBinOp(be *BinOpExpr, at token) error {
	_, lLit := be.LHS.(*LiteralExpr)
	_, rLit := be.RHS.(*LiteralExpr)
	if isSetOp(be.Op) && (lLit || rLit) {
		return p.errAt(at, "set operator %q is not allowed between a scalar and a vector", be.Op)
	}
	if isComparison(be.Op) && lLit && rLit && !be.ReturnBool {
		return p.errAt(at, "comparisons between scalars must use the bool modifier")
	}
	if be.Matching != nil && (lLit || rLit) {
		return p.errAt(at, "vector matching is only allowed between vectors")
	}
	return nil
}

func (p *parser) parseBinOpModifiers(be *BinOpExpr) error {
	if p.isIdent("bool") {
		t := p.next()
		if !isComparison(be.Op) {
			return p.errAt(t, "bool modifier is only allowed on comparison operators")
		}
		be.ReturnBool = true
	}
	if !p.isIdent("on") && !p.isIdent("ignoring") {
		return nil
	}
	m := &VectorMatching{On: p.next().text == "on"}
	var err error
	if m.Labels, err = p.parseLabelList(); err != nil {
		return err
	}
	if p.isIdent("group_left") || p.isIdent("group_right") {
		t := p.next()
		if isSetOp(be.Op) {
			return p.errAt(t, "%s is not allowed with set operator %q", t.text, be.Op)
		}
		m.Card = t.text
		if p.peek().kind == tLParen {
			if m.Include, err = p.parseLabelList(); err != nil {
				return err
			}
		}
	}
	be.Matching = m
	return nil
}

// parseLabelList parses "(a, b, c)", possibly empty.
func (p *parser) parseLabelList() ([]string, error) {
	if _, err := p.expect(tLParen, "("); err != nil {
		return nil, err
	}
	out := []string{}
	for p.peek().kind != tRParen {
		t, err := p.expect(tIdent, "label name")
		if err != nil {
			return nil, err
		}
		out = append(out, t.text)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if _, err := p.expect(tRParen, ") or ,"); err != nil {
		return nil, err
	}
	return out, nil
}

func (p *parser) parseUnary() (Expr, error) {
	t := p.peek()
	if t.kind == tSub || t.kind == tAdd {
		p.next()
		n := p.peek()
		if n.kind != tNumber {
			return nil, p.unexpected(n, "number after unary "+t.text)
		}
		e, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if t.kind == tSub {
			e.(*LiteralExpr).Val = -e.(*LiteralExpr).Val
		}
		return e, nil
	}
	return p.parsePrimary()
}

func (p *parser) parsePrimary() (Expr, error) {
	t := p.peek()
	switch t.kind {
	case tLParen:
		p.next()
		e, err := p.parseExpr(0)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, ")"); err != nil {
			return nil, err
		}
		return e, nil
	case tNumber:
		p.next()
		v, err := parseNumber(t.text)
		if err != nil {
			return nil, p.errAt(t, "invalid number %q", t.text)
		}
		return &LiteralExpr{Val: v}, nil
	case tLBrace:
		le, err := p.parseLogExpr()
		if err != nil {
			return nil, err
		}
		if n := p.peek(); n.kind == tLBrack || n.kind == tPipe {
			if n.kind == tPipe {
				n = p.peekAt(1) // | unwrap
			}
			return nil, p.errAt(n, "syntax error: a log range [..] or unwrap is only allowed inside a range aggregation such as count_over_time(...)")
		}
		return le, nil
	case tIdent:
		return p.parseFunction()
	}
	return nil, p.unexpected(t, "a stream selector, a function or a number")
}

var rangeOps = map[string]bool{
	"rate": true, "count_over_time": true, "bytes_rate": true, "bytes_over_time": true,
	"absent_over_time": true, "sum_over_time": true, "avg_over_time": true, "min_over_time": true,
	"max_over_time": true, "first_over_time": true, "last_over_time": true, "stddev_over_time": true,
	"stdvar_over_time": true, "quantile_over_time": true,
}

var vectorOps = map[string]bool{
	"sum": true, "avg": true, "min": true, "max": true, "count": true, "topk": true,
	"bottomk": true, "sort": true, "sort_desc": true, "stddev": true, "stdvar": true,
}

func (p *parser) parseFunction() (Expr, error) {
	t := p.peek()
	switch {
	case rangeOps[t.text]:
		return p.parseRangeAgg()
	case vectorOps[t.text]:
		return p.parseVectorAgg()
	case t.text == "vector":
		p.next()
		if _, err := p.expect(tLParen, "( after vector"); err != nil {
			return nil, err
		}
		if k := p.peek().kind; k != tNumber && k != tSub && k != tAdd {
			return nil, p.unexpected(p.peek(), "number")
		}
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		lit := n.(*LiteralExpr)
		if _, err := p.expect(tRParen, ")"); err != nil {
			return nil, err
		}
		return &VectorExpr{Val: lit.Val}, nil
	case t.text == "label_replace":
		return p.parseLabelReplace()
	}
	return nil, p.errAt(t, "syntax error: unknown function %q", t.text)
}

func (p *parser) parseRangeAgg() (Expr, error) {
	opTok := p.next()
	e := &RangeAggExpr{Op: opTok.text}
	if _, err := p.expect(tLParen, "( after "+e.Op); err != nil {
		return nil, err
	}
	if e.Op == "quantile_over_time" {
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		lit, ok := n.(*LiteralExpr)
		if !ok {
			return nil, p.errAt(opTok, "quantile_over_time takes a number as its first parameter")
		}
		e.Param = lit.Val
		if _, err := p.expect(tComma, ","); err != nil {
			return nil, err
		}
	}
	argTok := p.peek()
	lr, err := p.parseLogRange()
	if err != nil {
		return nil, err
	}
	if lr.Range == 0 {
		return nil, p.errAt(p.peek(), "syntax error: %s needs a log range such as {app=\"x\"}[5m]", e.Op)
	}
	e.Left = lr
	if _, err := p.expect(tRParen, ")"); err != nil {
		return nil, err
	}
	if p.isIdent("by") || p.isIdent("without") {
		if e.Grouping, err = p.parseGrouping(); err != nil {
			return nil, err
		}
	}
	if err := checkRangeAgg(e); err != nil {
		return nil, p.errAt(argTok, "%v", err)
	}
	return e, nil
}

// checkRangeAgg applies Loki's rules on unwrap and grouping.
func checkRangeAgg(e *RangeAggExpr) error {
	switch e.Op {
	case "count_over_time", "bytes_rate", "bytes_over_time", "absent_over_time":
		if e.Left.Unwrap != nil {
			return fmt.Errorf("invalid aggregation %s with unwrap", e.Op)
		}
	case "rate":
	default:
		if e.Left.Unwrap == nil {
			return fmt.Errorf("invalid aggregation %s without unwrap", e.Op)
		}
	}
	if e.Grouping != nil {
		switch e.Op {
		case "avg_over_time", "stddev_over_time", "stdvar_over_time", "quantile_over_time", "rate",
			"max_over_time", "min_over_time", "first_over_time", "last_over_time":
		default:
			return fmt.Errorf("grouping not allowed for %s aggregation", e.Op)
		}
	}
	return nil
}

// parseLogRange parses a selector, pipeline, unwrap, [range] and offset in
// either of Loki's orders: {..} | stages [5m] or {..}[5m] | stages.
func (p *parser) parseLogRange() (*LogRangeExpr, error) {
	if p.peek().kind == tLParen {
		p.next()
		lr, err := p.parseLogRange()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, ")"); err != nil {
			return nil, err
		}
		if lr.Range == 0 && p.peek().kind == tLBrack {
			if err := p.parseRangeSuffix(lr); err != nil {
				return nil, err
			}
		}
		return lr, nil
	}
	le, err := p.parseLogExpr()
	if err != nil {
		return nil, err
	}
	lr := &LogRangeExpr{Log: le}
	for {
		switch {
		case p.peek().kind == tLBrack && lr.Range == 0:
			if err := p.parseRangeSuffix(lr); err != nil {
				return nil, err
			}
			if err := p.parsePipeline(le); err != nil {
				return nil, err
			}
		case p.peek().kind == tPipe && p.peekAt(1).kind == tIdent && p.peekAt(1).text == "unwrap":
			if lr.Unwrap != nil {
				return nil, p.errAt(p.peekAt(1), "syntax error: unwrap may appear only once")
			}
			if lr.Unwrap, err = p.parseUnwrap(); err != nil {
				return nil, err
			}
		default:
			return lr, nil
		}
	}
}

func (p *parser) parseRangeSuffix(lr *LogRangeExpr) error {
	p.next()
	d, err := p.expect(tDuration, "duration such as 5m")
	if err != nil {
		return err
	}
	if lr.Range, err = parseDuration(d.text); err != nil || lr.Range <= 0 {
		return p.errAt(d, "invalid range %q: must be a positive duration", d.text)
	}
	if _, err := p.expect(tRBrack, "]"); err != nil {
		return err
	}
	if p.isIdent("offset") {
		p.next()
		o, err := p.expect(tDuration, "duration after offset")
		if err != nil {
			return err
		}
		if lr.Offset, err = parseDuration(o.text); err != nil {
			return p.errAt(o, "invalid offset %q", o.text)
		}
	}
	return nil
}

// parseUnwrap parses "| unwrap [conv(]label[)]" and trailing label filters.
func (p *parser) parseUnwrap() (*Unwrap, error) {
	p.next()
	p.next()
	u := &Unwrap{}
	name, err := p.expect(tIdent, "label name after unwrap")
	if err != nil {
		return nil, err
	}
	if p.peek().kind == tLParen {
		switch name.text {
		case "duration", "duration_seconds", "bytes":
		default:
			return nil, p.errAt(name, "unknown unwrap conversion %q, expected duration, duration_seconds or bytes", name.text)
		}
		p.next()
		l, err := p.expect(tIdent, "label name")
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, ")"); err != nil {
			return nil, err
		}
		u.Conv, u.Label = name.text, l.text
	} else {
		u.Label = name.text
	}
	for p.peek().kind == tPipe {
		n := p.peekAt(1)
		if !(n.kind == tLParen || n.kind == tIdent && isCmpTok(p.peekAt(2).kind)) {
			return nil, p.errAt(n, "syntax error: only label filters may follow unwrap")
		}
		p.next()
		f, err := p.parseLabelFilterOr()
		if err != nil {
			return nil, err
		}
		u.PostFilters = append(u.PostFilters, f)
	}
	return u, nil
}

func (p *parser) parseGrouping() (*Grouping, error) {
	g := &Grouping{Without: p.next().text == "without"}
	var err error
	g.Labels, err = p.parseLabelList()
	return g, err
}

func (p *parser) parseVectorAgg() (Expr, error) {
	opTok := p.next()
	e := &VectorAggExpr{Op: opTok.text}
	var err error
	if p.isIdent("by") || p.isIdent("without") {
		if e.Grouping, err = p.parseGrouping(); err != nil {
			return nil, err
		}
	}
	if _, err := p.expect(tLParen, "( after "+e.Op); err != nil {
		return nil, err
	}
	if e.Op == "topk" || e.Op == "bottomk" {
		n, err := p.expect(tNumber, "number of elements for "+e.Op)
		if err != nil {
			return nil, err
		}
		k, err := parseNumber(n.text)
		if err != nil || k < 1 || k != float64(int64(k)) {
			return nil, p.errAt(n, "invalid parameter for %s: %q must be a positive integer", e.Op, n.text)
		}
		e.Param = k
		if _, err := p.expect(tComma, ","); err != nil {
			return nil, err
		}
	}
	argTok := p.peek()
	inner, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	if e.Inner, err = p.asVectorArg(inner, argTok, e.Op); err != nil {
		return nil, err
	}
	if _, err := p.expect(tRParen, ")"); err != nil {
		return nil, err
	}
	if p.isIdent("by") || p.isIdent("without") {
		if e.Grouping != nil {
			return nil, p.errAt(p.peek(), "syntax error: grouping given twice")
		}
		if e.Grouping, err = p.parseGrouping(); err != nil {
			return nil, err
		}
	}
	if (e.Op == "sort" || e.Op == "sort_desc") && e.Grouping != nil {
		return nil, p.errAt(opTok, "%s does not take by or without", e.Op)
	}
	return e, nil
}

func (p *parser) asVectorArg(e Expr, at token, op string) (SampleExpr, error) {
	switch e.(type) {
	case *LogExpr:
		return nil, p.errAt(at, "syntax error: %s needs a metric query such as count_over_time({app=\"x\"}[5m]), not a log query", op)
	case *LiteralExpr:
		return nil, p.errAt(at, "%s needs a vector, not a number (use vector(x))", op)
	}
	return e.(SampleExpr), nil
}

func (p *parser) parseLabelReplace() (Expr, error) {
	p.next()
	if _, err := p.expect(tLParen, "( after label_replace"); err != nil {
		return nil, err
	}
	argTok := p.peek()
	inner, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	e := &LabelReplaceExpr{}
	if e.Inner, err = p.asVectorArg(inner, argTok, "label_replace"); err != nil {
		return nil, err
	}
	args := []*string{&e.Dst, &e.Replacement, &e.Src, &e.Regex}
	var reTok token
	for _, a := range args {
		if _, err := p.expect(tComma, ","); err != nil {
			return nil, err
		}
		s, err := p.expect(tString, "string")
		if err != nil {
			return nil, err
		}
		*a, reTok = s.text, s
	}
	if _, err := regexp.Compile("^(?:" + e.Regex + ")$"); err != nil {
		return nil, p.errAt(reTok, "invalid regexp %q: %v", e.Regex, err)
	}
	if _, err := p.expect(tRParen, ")"); err != nil {
		return nil, err
	}
	return e, nil
}
